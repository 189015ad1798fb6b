# Writes OUT: a C++ file holding every DIR/*.json as a raw string literal (the built-in
# clusters), so the binary works from any directory. Run at build time by CMakeLists.txt.
file(GLOB files "${DIR}/*.json")
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(name "${f}" NAME_WLE)
  file(READ "${f}" text)
  string(APPEND body "      {\"${name}\", R\"cvs_json(${text})cvs_json\"},\n")
endforeach()
file(WRITE "${OUT}.tmp"
"// Generated from topologies/builtin/*.json by topologies/embed_builtin.cmake. Do not edit.
#include \"topologies/builtin.h\"

namespace convscale::topo::detail {

const std::map<std::string, std::string>& BuiltinClusterTexts() {
  static const std::map<std::string, std::string> texts = {
${body}  };
  return texts;
}

}  // namespace convscale::topo::detail
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
