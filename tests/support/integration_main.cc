// main() for integration test binaries: brings up (or reuses) the real control plane first.
#include <gtest/gtest.h>

#include "support/cluster.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new botsec::testing::ClusterEnvironment());
  return RUN_ALL_TESTS();
}
