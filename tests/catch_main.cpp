// The one compiled Catch2 main of a build; every unit test binary links this object.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
