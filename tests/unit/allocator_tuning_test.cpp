#include "bot/allocator_tuning.h"

#include <gtest/gtest.h>

namespace shipmate::bot {
namespace {

TEST(AllocatorTuning, AddsTheCacheSizeToWhateverIsSet) {
  EXPECT_EQ(tuned_glibc_tunables(nullptr), "glibc.malloc.tcache_count=128");
  EXPECT_EQ(tuned_glibc_tunables(""), "glibc.malloc.tcache_count=128");
  EXPECT_EQ(tuned_glibc_tunables("glibc.malloc.mxfast=0"),
            "glibc.malloc.mxfast=0:glibc.malloc.tcache_count=128");
}

TEST(AllocatorTuning, AnOperatorsOwnCacheSizeWins) {
  EXPECT_EQ(tuned_glibc_tunables("glibc.malloc.tcache_count=16"), std::nullopt);
  EXPECT_EQ(tuned_glibc_tunables("glibc.malloc.mxfast=0:glibc.malloc.tcache_count=0"),
            std::nullopt);
}

}  // namespace
}  // namespace shipmate::bot
