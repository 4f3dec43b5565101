#include "botsec/kube/informer.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace botsec::kube {
namespace {

Json Object(const std::string& ns, const std::string& name, const std::string& rv,
            const Json& labels = Json::object(), const Json& owners = Json::array()) {
  return {{"metadata",
           {{"namespace", ns},
            {"name", name},
            {"resourceVersion", rv},
            {"labels", labels},
            {"ownerReferences", owners},
            {"managedFields", Json::array({{{"manager", "kubectl"}}})}}}};
}

std::vector<std::string> Names(const std::vector<ObjectPtr>& objects) {
  std::vector<std::string> names;
  names.reserve(objects.size());
  for (const ObjectPtr& o : objects) {
    names.push_back((*o)["metadata"]["name"]);
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(StoreTest, IndexesByNamespaceOwnerAndLabelAndKeepsThemCurrent) {
  Store store;
  Json owner = Json::array({{{"uid", "u1"}, {"kind", "BotSandbox"}, {"name", "s"}}});
  store.Replace({Object("a", "x", "1", {{"app", "bot"}}, owner), Object("a", "y", "1"),
                 Object("b", "z", "1", {{"app", "bot"}})});
  EXPECT_EQ(store.size(), 3U);
  EXPECT_EQ(Names(store.ByNamespace("a")), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(Names(store.ByOwner("u1")), (std::vector<std::string>{"x"}));
  EXPECT_EQ(Names(store.ByLabel("app", "bot")), (std::vector<std::string>{"x", "z"}));

  // Relabel x and drop its owner: the old index entries must go.
  ObjectPtr previous = store.Upsert(Object("a", "x", "2", {{"app", "other"}}));
  ASSERT_NE(previous, nullptr);
  EXPECT_EQ((*previous)["metadata"]["resourceVersion"], "1");
  EXPECT_TRUE(store.ByOwner("u1").empty());
  EXPECT_EQ(Names(store.ByLabel("app", "bot")), (std::vector<std::string>{"z"}));
  EXPECT_EQ(Names(store.ByLabel("app", "other")), (std::vector<std::string>{"x"}));

  EXPECT_NE(store.Remove("b/z"), nullptr);
  EXPECT_EQ(store.Remove("b/z"), nullptr);
  EXPECT_TRUE(store.ByNamespace("b").empty());
  EXPECT_EQ(store.Get("b/z"), nullptr);
  ASSERT_NE(store.Get("a/y"), nullptr);
}

TEST(StoreTest, ARelistStagedPageByPageReportsOnlyWhatChanged) {
  Store store;
  store.Replace({Object("a", "same", "1"), Object("a", "bumped", "1"), Object("a", "gone", "1")});
  Store::Snapshot snapshot;
  store.Stage(snapshot, {Object("a", "same", "1"), Object("a", "bumped", "2")});
  EXPECT_EQ(store.ResourceVersion("a/bumped"), "1") << "staging leaves the store alone";
  store.Stage(snapshot, {Object("a", "new", "5", {{"app", "bot"}})});
  StoreDelta delta = store.Commit(std::move(snapshot));
  std::sort(delta.changed.begin(), delta.changed.end());
  EXPECT_EQ(delta.changed, (std::vector<std::string>{"a/bumped", "a/new"}));
  EXPECT_EQ(Names(delta.removed), (std::vector<std::string>{"gone"}));
  EXPECT_EQ(store.size(), 3U);
  EXPECT_EQ(store.ResourceVersion("a/bumped"), "2");
  EXPECT_EQ(Names(store.ByLabel("app", "bot")), (std::vector<std::string>{"new"}));
  EXPECT_EQ(Names(store.ByNamespace("a")), (std::vector<std::string>{"bumped", "new", "same"}));
}

TEST(StoreTest, ReadsAreCopiesTheCallerOwns) {
  Store store;
  store.Upsert(Object("a", "x", "1", {{"app", "bot"}}));
  ObjectPtr first = store.Get("a/x");
  ObjectPtr second = store.Get("a/x");
  ASSERT_NE(first, nullptr);
  EXPECT_NE(first.get(), second.get());
  EXPECT_EQ(*first, *second);
  EXPECT_EQ((*first)["metadata"]["labels"]["app"], "bot");
}

TEST(StoreTest, DropsManagedFields) {
  Store store;
  store.Upsert(Object("a", "x", "1"));
  ObjectPtr got = store.Get("a/x");
  ASSERT_NE(got, nullptr);
  EXPECT_FALSE((*got)["metadata"].contains("managedFields"));
  EXPECT_TRUE((*got)["metadata"].contains("resourceVersion"));
}

TEST(KeyMapperTest, ObjectKeyAndControllerOwnerKey) {
  EXPECT_EQ(ObjectKey()(Object("a", "x", "1")), std::vector<std::string>{"a/x"});
  EXPECT_EQ(KeyOf(Json{{"metadata", {{"name", "cluster-scoped"}}}}), "cluster-scoped");
  Json owners = Json::array(
      {{{"apiVersion", "botsec.io/v1alpha1"},
        {"kind", "BotSandbox"},
        {"name", "s1"},
        {"controller", true}},
       {{"apiVersion", "botsec.io/v1alpha1"}, {"kind", "BotSandbox"}, {"name", "s2"}},
       {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "rs"}, {"controller", true}}});
  KeyMapper sandbox = ControllerOwnerKey("botsec.io", "BotSandbox");
  EXPECT_EQ(sandbox(Object("a", "pod", "1", Json::object(), owners)),
            std::vector<std::string>{"a/s1"})
      << "only the controller reference counts";
  EXPECT_TRUE(
      ControllerOwnerKey("", "ReplicaSet")(Object("a", "p", "1", Json::object(), owners)).empty())
      << "the group must match too";
  EXPECT_TRUE(sandbox(Object("a", "orphan", "1")).empty());
}

}  // namespace
}  // namespace botsec::kube
