# `cmake --install` rules (included from the top-level CMakeLists.txt). The usual places under the
# prefix (GNUInstallDirs): the binary in bin/, the example configurations in
# share/doc/shipmate/examples/, the shipped runbooks in share/shipmate/runbooks/ (the binary also
# embeds them), the README, and the systemd unit in lib/systemd/system/ (SHIPMATE_SYSTEMD_UNIT_DIR,
# relative to the prefix unless absolute). The unit names the installed binary, so it is written at
# install time: `cmake --install build --prefix /opt/shipmate` gives a unit that runs
# /opt/shipmate/bin/shipmate. DESTDIR is honoured throughout.
include(GNUInstallDirs)
set(SHIPMATE_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where cmake --install puts shipmate.service (relative to the prefix unless absolute)")

install(TARGETS shipmate RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES examples/shipmate.yaml examples/integrations.yaml examples/slack-app-manifest.yaml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(DIRECTORY examples/hello DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        USE_SOURCE_PERMISSIONS)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB SHIPMATE_INSTALLED_RUNBOOKS CONFIGURE_DEPENDS
     ${CMAKE_CURRENT_SOURCE_DIR}/runbooks/shipped/*.yaml)
install(FILES ${SHIPMATE_INSTALLED_RUNBOOKS} DESTINATION ${CMAKE_INSTALL_DATADIR}/shipmate/runbooks)

install(CODE "
  set(prefix \"\${CMAKE_INSTALL_PREFIX}\")
  set(unit_dir \"${SHIPMATE_SYSTEMD_UNIT_DIR}\")
  if(NOT IS_ABSOLUTE \"\${unit_dir}\")
    set(unit_dir \"\${prefix}/\${unit_dir}\")
  endif()
  set(SHIPMATE_BINARY \"\${prefix}/${CMAKE_INSTALL_BINDIR}/shipmate\")
  set(SHIPMATE_DOC_DIR \"\${prefix}/${CMAKE_INSTALL_DOCDIR}\")
  set(SHIPMATE_EXAMPLES_DIR \"\${prefix}/${CMAKE_INSTALL_DOCDIR}/examples\")
  set(SHIPMATE_UNIT_DIR \"\${unit_dir}\")
  set(unit \"\$ENV{DESTDIR}\${unit_dir}/shipmate.service\")
  message(STATUS \"Installing: \${unit}\")
  configure_file(\"${CMAKE_CURRENT_SOURCE_DIR}/packaging/shipmate.service.in\" \"\${unit}\" @ONLY)
  file(CHMOD \"\${unit}\" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${unit}\")
")
