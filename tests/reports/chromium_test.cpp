// Opens a report in headless Chromium (Debian's chromium package), takes a screenshot and checks
// the charts were drawn: the PNG decodes, has the window's size, and holds enough coloured
// pixels (the palette of the charts) that the page cannot be blank or unstyled text only.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "reports/writer.h"
#include "sample_report.h"
#ifdef CONVSCALE_REPORTS_HAVE_PNG
#include "reports/png.h"
#endif

namespace convscale::reports {
namespace {

std::string FindChromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const std::string cmd = std::string("command -v ") + name + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return name;
  }
  return "";
}

TEST(Chromium, ScreenshotShowsCharts) {
#ifndef CONVSCALE_REPORTS_HAVE_PNG
  GTEST_SKIP() << "built without zlib: cannot decode the screenshot";
#else
  const std::string chromium = FindChromium();
  if (chromium.empty())
    GTEST_SKIP()
        << "chromium is not installed (apt-get install chromium); scripts/setup installs it";
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / "convscale_chromium_test";
  fs::remove_all(dir);
  // A hostile model name as well: the page must still render (and run nothing).
  const std::string index = WriteReportDir(testing::SampleReport("<script>alert(\"x\")</script>"),
                                           (dir / "report").string());
  const fs::path png = dir / "shot.png";
  const std::string cmd = "timeout 180 " + chromium +
                          " --headless --no-sandbox --disable-gpu --disable-background-networking"
                          " --no-first-run --hide-scrollbars --user-data-dir=" +
                          (dir / "profile").string() + " --screenshot=" + png.string() +
                          " --window-size=1200,900 file://" + fs::absolute(index).string() + " >" +
                          (dir / "chromium.log").string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  ASSERT_EQ(rc, 0) << cmd << " (see " << (dir / "chromium.log").string() << ")";
  ASSERT_TRUE(fs::exists(png)) << "no screenshot written";
  const PngStats st = InspectPng(png.string());
  EXPECT_EQ(st.width, 1200);
  EXPECT_EQ(st.height, 900);
  // Measured on the sample report: about 10% of the pixels are not white and 3% are chart
  // colours. A blank page has none; text alone has almost no coloured pixels.
  EXPECT_GT(st.non_white, st.pixels / 50) << "the page looks blank";
  EXPECT_GT(st.colored, st.pixels / 200) << "no chart colours: were the charts drawn?";
#endif
}

}  // namespace
}  // namespace convscale::reports
