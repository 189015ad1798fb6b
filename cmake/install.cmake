include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS convscale RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/topologies/builtin/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/convscale/topologies FILES_MATCHING PATTERN "*.json")

# Man page and completion are generated from the CLI's own command table.
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/convscale.1 ${CMAKE_BINARY_DIR}/convscale.bash
  COMMAND convscale man > ${CMAKE_BINARY_DIR}/convscale.1
  COMMAND convscale completion bash > ${CMAKE_BINARY_DIR}/convscale.bash
  DEPENDS convscale
  COMMENT "Generating the man page and bash completion")
add_custom_target(convscale_docs ALL DEPENDS ${CMAKE_BINARY_DIR}/convscale.1
                                             ${CMAKE_BINARY_DIR}/convscale.bash)
install(FILES ${CMAKE_BINARY_DIR}/convscale.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_BINARY_DIR}/convscale.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME convscale)

# The C++ library for users who want the cost model: convscale::model.
set(convscale_lib_targets convscale_util convscale_graph)
foreach(t convscale_topology convscale_plan convscale_cost)
  if(TARGET ${t})
    list(APPEND convscale_lib_targets ${t})
  endif()
endforeach()
add_library(convscale_model INTERFACE)
target_link_libraries(convscale_model INTERFACE ${convscale_lib_targets})
set_target_properties(convscale_model PROPERTIES EXPORT_NAME model)
add_library(convscale::model ALIAS convscale_model)
install(TARGETS ${convscale_lib_targets} convscale_model EXPORT convscaleTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/model ${PROJECT_SOURCE_DIR}/topologies
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/convscale FILES_MATCHING PATTERN "*.h")
install(EXPORT convscaleTargets NAMESPACE convscale:: FILE convscaleTargets.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/convscale)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/convscaleConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/convscaleConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/convscale)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/convscaleConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/convscaleConfig.cmake ${CMAKE_BINARY_DIR}/convscaleConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/convscale)
