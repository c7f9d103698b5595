#!/bin/sh
# Doxygen INPUT_FILTER: grove's headers comment each declaration with plain `//` lines
# right above it; turning them into `///` lets Doxygen attach them to the declaration.
# Section dividers (`// --- reading ---`) stay plain comments, so they do not become
# the brief of the declaration that follows.
exec sed -e '/^[[:space:]]*\/\/ ---.*---[[:space:]]*$/b' -e 's|^\([[:space:]]*\)// |\1/// |' -e 's|^\([[:space:]]*\)//$|\1///|' "$1"
