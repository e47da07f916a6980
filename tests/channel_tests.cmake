# Unit tests of the channel (loop/channel.hpp): included from tests/CMakeLists.txt.
handoff_add_unit_test(channel_test)
