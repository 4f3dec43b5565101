#include "botsec/kube/resource.h"

#include <gtest/gtest.h>

namespace botsec::kube {
namespace {

TEST(ResourcePathTest, CoreAndGroupedNamespacedAndCluster) {
  EXPECT_EQ(ResourcePath(resources::ConfigMaps(), "a"), "/api/v1/namespaces/a/configmaps");
  EXPECT_EQ(ResourcePath(resources::ConfigMaps(), "a", "b"), "/api/v1/namespaces/a/configmaps/b");
  EXPECT_EQ(ResourcePath(resources::Pods(), "a", "p", "status"),
            "/api/v1/namespaces/a/pods/p/status");
  EXPECT_EQ(ResourcePath(resources::ConfigMaps(), ""), "/api/v1/configmaps") << "all namespaces";
  EXPECT_EQ(ResourcePath(resources::Namespaces(), "ignored", "n"), "/api/v1/namespaces/n");
  EXPECT_EQ(ResourcePath(resources::Leases(), "kube-system", "x"),
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x");
  EXPECT_EQ(resources::Leases().ApiVersion(), "coordination.k8s.io/v1");
  EXPECT_EQ(resources::Pods().ApiVersion(), "v1");
}

TEST(QueryTest, ListQueryEncodesSelectorsAndSkipsEmptyValues) {
  EXPECT_EQ(ListQuery({}), "");
  ListOptions options;
  options.label_selector = "app in (a,b),tier!=x";
  options.limit = 100;
  options.continue_token = "eyJ2Ijoi+/=";
  EXPECT_EQ(
      ListQuery(options),
      "?labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Dx&limit=100&continue=eyJ2Ijoi%2B%2F%3D");
}

TEST(QueryTest, WatchQueryAsksForBookmarksAndATimeout) {
  WatchOptions options;
  options.resource_version = "123";
  options.timeout_seconds = 290;
  EXPECT_EQ(WatchQuery(options),
            "?watch=true&resourceVersion=123&timeoutSeconds=290&allowWatchBookmarks=true");
}

}  // namespace
}  // namespace botsec::kube
