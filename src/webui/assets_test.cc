// The embedded UI: the three files are there, index.html loads the bundle by absolute path,
// and the bundle is the real one (not an empty build).
#include "webui/assets.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

namespace sf::webui {
namespace {

TEST(WebUi, HasTheThreeFiles) {
  std::set<std::string_view> paths;
  for (const Asset& a : assets()) {
    EXPECT_TRUE(paths.insert(a.path).second) << "listed twice: " << a.path;
    EXPECT_FALSE(a.body.empty()) << a.path;
    EXPECT_FALSE(a.content_type.empty()) << a.path;
  }
  EXPECT_EQ(paths, (std::set<std::string_view>{"/", "/ui/app.js", "/ui/app.css"}));
}

TEST(WebUi, ContentTypes) {
  ASSERT_NE(find("/"), nullptr);
  EXPECT_EQ(find("/")->content_type, "text/html; charset=utf-8");
  ASSERT_NE(find("/ui/app.js"), nullptr);
  EXPECT_EQ(find("/ui/app.js")->content_type, "text/javascript; charset=utf-8");
  ASSERT_NE(find("/ui/app.css"), nullptr);
  EXPECT_EQ(find("/ui/app.css")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(find("/ui/missing.js"), nullptr);
  EXPECT_EQ(find("/index.html"), nullptr);
}

TEST(WebUi, IndexLoadsTheBundleByAbsolutePath) {
  const std::string_view html = find("/")->body;
  EXPECT_NE(html.find("<!doctype html>"), std::string_view::npos);
  EXPECT_NE(html.find("src=\"/ui/app.js\""), std::string_view::npos) << html;
  EXPECT_NE(html.find("href=\"/ui/app.css\""), std::string_view::npos) << html;
  // What the token prompt and the pages hang on.
  for (std::string_view id :
       {"id=\"app\"", "id=\"token-input\"", "id=\"token-submit\"", "id=\"auth-required\""})
    EXPECT_NE(html.find(id), std::string_view::npos) << id;
}

TEST(WebUi, BundleIsNonTrivial) {
  const std::string_view js = find("/ui/app.js")->body;
  // The charting libraries alone are a few hundred KiB minified.
  EXPECT_GT(js.size(), 100u * 1024);
  EXPECT_EQ(js.find('\0'), std::string_view::npos);
  // Strings of the app's own code survive minification.
  EXPECT_NE(js.find("/queues/list"), std::string_view::npos);
  EXPECT_NE(js.find("/ws/events"), std::string_view::npos);
  EXPECT_NE(js.find("__sfStats"), std::string_view::npos);
  EXPECT_NE(js.find("/data/collections"), std::string_view::npos);
  const std::string_view css = find("/ui/app.css")->body;
  EXPECT_NE(css.find(".status-error"), std::string_view::npos);
}

}  // namespace
}  // namespace sf::webui
