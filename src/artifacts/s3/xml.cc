#include "artifacts/s3/xml.h"

#include <expat.h>

namespace sf::artifacts::s3 {

namespace {

struct State {
  std::vector<std::string> stack;  // open elements
  std::string text;                // of the innermost open element
  bool had_child = false;          // the innermost element has child elements
  XmlLeaves out;
};

std::string path_of(const std::vector<std::string>& stack) {
  std::string p;
  for (const auto& s : stack) {
    if (!p.empty()) p += '/';
    p += s;
  }
  return p;
}

void XMLCALL on_start(void* data, const XML_Char* name, const XML_Char**) {
  auto* st = static_cast<State*>(data);
  st->stack.emplace_back(name);
  st->text.clear();
  st->had_child = false;
}

void XMLCALL on_end(void* data, const XML_Char*) {
  auto* st = static_cast<State*>(data);
  if (!st->had_child) st->out.emplace_back(path_of(st->stack), st->text);
  st->stack.pop_back();
  st->text.clear();
  st->had_child = true;  // the parent has a child
}

void XMLCALL on_text(void* data, const XML_Char* s, int len) {
  static_cast<State*>(data)->text.append(s, static_cast<size_t>(len));
}

}  // namespace

Result<XmlLeaves> xml_leaves(std::string_view doc) {
  if (doc.size() > kMaxXmlBytes)
    return Error(Errc::parse_error,
                 "XML answer larger than " + std::to_string(kMaxXmlBytes) + " bytes");
  XML_Parser p = XML_ParserCreate(nullptr);
  if (!p) return Error(Errc::internal, "cannot create an XML parser");
  State st;
  XML_SetUserData(p, &st);
  XML_SetElementHandler(p, on_start, on_end);
  XML_SetCharacterDataHandler(p, on_text);
  const bool ok = XML_Parse(p, doc.data(), static_cast<int>(doc.size()), XML_TRUE) == XML_STATUS_OK;
  std::string why = ok ? "" : XML_ErrorString(XML_GetErrorCode(p));
  const auto line = XML_GetCurrentLineNumber(p);
  XML_ParserFree(p);
  if (!ok)
    return Error(Errc::parse_error,
                 "malformed XML answer (line " + std::to_string(line) + "): " + why);
  return std::move(st.out);
}

std::string xml_first(const XmlLeaves& leaves, std::string_view path) {
  for (const auto& [p, t] : leaves)
    if (p == path) return t;
  return "";
}

}  // namespace sf::artifacts::s3
