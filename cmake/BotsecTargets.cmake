# Project-wide target conventions: warnings as errors, optional sanitizers, and a layering check
# that keeps dependencies pointing one way (docs/ARCHITECTURE.md, "Layers").

# -Wno-missing-field-initializers: GCC 12 warns on designated initializers that leave members to
# their defaults (`HttpRequest{.path = p}`), which is the point of default member initializers.
set(BOTSEC_WARNINGS -Wall -Wextra -Wpedantic -Werror -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
    -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 at -O3 reports std::string concatenations as overlapping memcpy (GCC bug 105329, a
  # false positive in libstdc++'s own code); -Wrestrict stays on for other compilers.
  list(APPEND BOTSEC_WARNINGS -Wno-restrict)
endif()

if(BOTSEC_FUZZ)
  # Coverage for libFuzzer in every library, and AddressSanitizer to turn bugs into crashes.
  add_compile_options(-fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address)
endif()

if(BOTSEC_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# The layer of each library, lowest first. A library may link only libraries of a lower layer;
# the binaries may link any library but never each other.
set(BOTSEC_LAYER_botsec_core 0)
set(BOTSEC_LAYER_botsec_kube 1)
set(BOTSEC_LAYER_botsec_policy 1)
set(BOTSEC_LAYER_botsec_serve 1)
set(BOTSEC_LAYER_botsec_api 2)
set(BOTSEC_LAYER_botsec_operator_plan 3)
set(BOTSEC_LAYER_botsec_webhook_decide 3)
set(BOTSEC_LAYER_botsec_operator_reconcile 4)
set(BOTSEC_LAYER_botsec_webhook_admission 4)

function(botsec_check_layers target)
  get_target_property(own_layer ${target} BOTSEC_LAYER)
  foreach(dep IN LISTS ARGN)
    if(NOT TARGET ${dep} OR NOT DEFINED BOTSEC_LAYER_${dep})
      continue()
    endif()
    if(NOT own_layer STREQUAL "own_layer-NOTFOUND" AND NOT BOTSEC_LAYER_${dep} LESS own_layer)
      message(FATAL_ERROR "${target} (layer ${own_layer}) may not depend on ${dep} "
                          "(layer ${BOTSEC_LAYER_${dep}}): dependencies point down only")
    endif()
  endforeach()
endfunction()

# botsec_library(<name> SOURCES ... DEPS ...): a library under libs/ with public headers in
# include/botsec/<lib>/ and private code in src/.
function(botsec_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  if(NOT DEFINED BOTSEC_LAYER_${name})
    message(FATAL_ERROR "${name} has no layer: add it to cmake/BotsecTargets.cmake")
  endif()
  add_library(${name} ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES BOTSEC_LAYER ${BOTSEC_LAYER_${name}})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                     PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${BOTSEC_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  botsec_check_layers(${name} ${ARG_DEPS} ${ARG_PRIVATE_DEPS})
endfunction()

# botsec_binary(<name> [COMPONENT operator|webhook|cli] SOURCES ... DEPS ...): one of the three
# shipped binaries, into BOTSEC_BIN_DIR. It may link its own component's libraries
# (botsec_<component>_*), never another's.
function(botsec_binary name)
  cmake_parse_arguments(ARG "" "COMPONENT" "SOURCES;DEPS" ${ARGN})
  foreach(dep IN LISTS ARG_DEPS)
    if(dep MATCHES "^botsec_(operator|webhook|cli)" AND NOT dep MATCHES "^botsec_${ARG_COMPONENT}_")
      message(FATAL_ERROR "${name} may not link ${dep}: binaries share code only through libs/")
    endif()
  endforeach()
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${BOTSEC_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${BOTSEC_BIN_DIR})
endfunction()
