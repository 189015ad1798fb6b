#include "model/util/units.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "model/util/error.h"

namespace convscale::units {
namespace {

TEST(Units, BandwidthDecimalAndBits) {
  EXPECT_DOUBLE_EQ(ParseBandwidth("900GBps"), 900e9);
  EXPECT_DOUBLE_EQ(ParseBandwidth("400Gbps"), 50e9);
  EXPECT_DOUBLE_EQ(ParseBandwidth("12.5 GB/s"), 12.5e9);
  EXPECT_DOUBLE_EQ(ParseBandwidth("200Mbps"), 25e6);
  EXPECT_DOUBLE_EQ(ParseBandwidth("1GiBps"), 1073741824.0);
}

TEST(Units, BytesTimeFlops) {
  EXPECT_DOUBLE_EQ(ParseBytes("80GiB"), 80.0 * 1073741824.0);
  EXPECT_DOUBLE_EQ(ParseBytes("25MB"), 25e6);
  EXPECT_DOUBLE_EQ(ParseTime("1.5us"), 1.5e-6);
  EXPECT_DOUBLE_EQ(ParseTime("2ms"), 2e-3);
  EXPECT_DOUBLE_EQ(ParseFlopRate("989TFlops"), 989e12);
}

TEST(Units, ErrorsSayWhatAndSuggest) {
  try {
    ParseBandwidth("40Gbs");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "\"40Gbs\" is not a bandwidth (unit \"Gbs\" unknown, for example \"100Gbps\" or "
                 "\"12.5GBps\"); did you mean \"40Gbps\"?");
  }
  EXPECT_THROW(ParseBandwidth("fast"), std::invalid_argument);
  EXPECT_THROW(ParseBytes("-1GB"), std::invalid_argument);
  try {
    ParseTime("5");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "\"5\" has no unit; a time needs one, for example \"1.5us\"");
  }
}

TEST(Units, DidYouMean) {
  EXPECT_EQ(DidYouMean("resnet5", {"resnet50", "vgg16"}), "; did you mean \"resnet50\"?");
  EXPECT_EQ(DidYouMean("xyz", {"resnet50", "vgg16"}), "");
}

}  // namespace
}  // namespace convscale::units
