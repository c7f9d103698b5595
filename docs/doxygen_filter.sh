#!/bin/sh
# Doxygen INPUT_FILTER: grove's headers comment each declaration with plain `//` lines
# right above it; turning them into `///` lets Doxygen attach them to the declaration.
exec sed -e 's|^\([[:space:]]*\)// |\1/// |' -e 's|^\([[:space:]]*\)//$|\1///|' "$1"
