// grove/export.hpp: GROVE_API marks the public ABI; everything else in libgrove is
// hidden (-fvisibility=hidden).
#pragma once

#if defined(GROVE_BUILDING_LIBRARY)
#define GROVE_API __attribute__((visibility("default")))
#else
#define GROVE_API
#endif
