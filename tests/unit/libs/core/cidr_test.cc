#include "botsec/core/cidr.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace botsec::core {
namespace {

TEST(CidrTest, ParsesBothFamiliesCanonically) {
  for (const auto& [text, canonical] : std::vector<std::pair<std::string, std::string>>{
           {"10.0.0.0/8", "10.0.0.0/8"},
           {"0.0.0.0/0", "0.0.0.0/0"},
           {"169.254.169.254/32", "169.254.169.254/32"},
           {"2001:db8::/32", "2001:db8::/32"},
           {"2001:0db8:0000::/48", "2001:db8::/48"},
           {"::/0", "::/0"},
           {"fd00:ec2::254/128", "fd00:ec2::254/128"},
       }) {
    auto cidr = Cidr::Parse(text);
    ASSERT_TRUE(cidr) << text << ": " << cidr.error().message;
    EXPECT_EQ(cidr->ToString(), canonical);
  }
}

TEST(CidrTest, RefusesWhatNetworkPolicyRefuses) {
  for (const std::string text :
       {"10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/08", "10.0.0.0/-1", "10.0.0/8",
        "example.com/8", "::/129", "10.0.0.0/8/8", "", "/8", "10.0.0.0/8 "}) {
    auto cidr = Cidr::Parse(text);
    ASSERT_FALSE(cidr) << text;
    EXPECT_EQ(cidr.error().message, "must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32") << text;
  }
  for (const std::string text : {"10.0.0.1/8", "192.168.1.0/16", "2001:db8::1/32"}) {
    auto cidr = Cidr::Parse(text);
    ASSERT_FALSE(cidr) << text;
    EXPECT_NE(cidr.error().message.find("no host bits set"), std::string::npos) << text;
  }
}

TEST(CidrTest, ContainsNestedBlocksOfItsFamilyOnly) {
  auto block = [](const char* text) { return *Cidr::Parse(text); };
  EXPECT_TRUE(block("0.0.0.0/0").Contains(block("169.254.0.0/16")));
  EXPECT_TRUE(block("10.0.0.0/8").Contains(block("10.0.0.0/8")));
  EXPECT_TRUE(block("10.0.0.0/8").Contains(block("10.255.255.255/32")));
  EXPECT_FALSE(block("10.0.0.0/8").Contains(block("11.0.0.0/32")));
  EXPECT_FALSE(block("10.0.0.0/16").Contains(block("10.0.0.0/8")));
  EXPECT_FALSE(block("10.128.0.0/9").Contains(block("10.0.0.0/9")));
  EXPECT_TRUE(block("::/0").Contains(block("fe80::/10")));
  EXPECT_FALSE(block("::/0").Contains(block("10.0.0.0/8")));
  EXPECT_FALSE(block("0.0.0.0/0").Contains(block("::/0")));
  EXPECT_TRUE(block("fd00::/8").Contains(block("fd00:ec2::254/128")));
}

}  // namespace
}  // namespace botsec::core
