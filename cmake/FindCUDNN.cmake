# FindCUDNN.cmake — find cuDNN and make the imported target CUDNN::cudnn.
#
# Where to look, in order: the CMake or environment variables that
# scripts/gpu-find-cudnn.sh and ../shared/gpu/find-cudnn.sh export,
#   CUDNN_INCLUDE_DIR   the folder holding cudnn_version.h
#   CUDNN_LIBRARY_DIR   the folder holding libcudnn.so*
#   CUDNN_LIBRARY       the library file itself (PyTorch's wheels ship only libcudnn.so.9)
# then the CUDA toolkit's folders and the system's.
#
# Sets CUDNN_FOUND, CUDNN_VERSION (MAJOR.MINOR.PATCH read from cudnn_version.h),
# CUDNN_VERSION_MAJOR, CUDNN_INCLUDE_DIR and CUDNN_LIBRARY. The version requested in
# find_package(CUDNN <v>) is checked the usual way (same major, not older).
include(FindPackageHandleStandardArgs)

if(NOT CUDNN_INCLUDE_DIR AND DEFINED ENV{CUDNN_INCLUDE_DIR})
  set(_cudnn_inc_hint "$ENV{CUDNN_INCLUDE_DIR}")
endif()
if(DEFINED ENV{CUDNN_LIBRARY_DIR})
  set(_cudnn_lib_hint "$ENV{CUDNN_LIBRARY_DIR}")
endif()
if(CUDNN_LIBRARY_DIR)
  list(APPEND _cudnn_lib_hint "${CUDNN_LIBRARY_DIR}")
endif()
if(NOT CUDNN_LIBRARY AND DEFINED ENV{CUDNN_LIBRARY})
  set(CUDNN_LIBRARY "$ENV{CUDNN_LIBRARY}" CACHE FILEPATH "cuDNN library")
endif()

find_path(CUDNN_INCLUDE_DIR
  NAMES cudnn_version.h
  HINTS ${_cudnn_inc_hint} ${CUDAToolkit_INCLUDE_DIRS}
  PATHS /usr/local/cuda/include /usr/include /usr/include/x86_64-linux-gnu
  DOC "folder holding cudnn_version.h")
find_library(CUDNN_LIBRARY
  NAMES cudnn libcudnn.so.9
  HINTS ${_cudnn_lib_hint} ${CUDAToolkit_LIBRARY_DIR}
  PATHS /usr/local/cuda /usr/lib/x86_64-linux-gnu
  PATH_SUFFIXES lib lib64
  DOC "cuDNN library")

set(CUDNN_VERSION "")
if(CUDNN_INCLUDE_DIR AND EXISTS "${CUDNN_INCLUDE_DIR}/cudnn_version.h")
  file(STRINGS "${CUDNN_INCLUDE_DIR}/cudnn_version.h" _cudnn_defs
       REGEX "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) +[0-9]+")
  foreach(_part MAJOR MINOR PATCHLEVEL)
    set(_cudnn_${_part} "")
    foreach(_line IN LISTS _cudnn_defs)
      if(_line MATCHES "^#define CUDNN_${_part} +([0-9]+)")
        set(_cudnn_${_part} "${CMAKE_MATCH_1}")
      endif()
    endforeach()
  endforeach()
  if(NOT _cudnn_MAJOR STREQUAL "")
    set(CUDNN_VERSION_MAJOR "${_cudnn_MAJOR}")
    set(CUDNN_VERSION "${_cudnn_MAJOR}.${_cudnn_MINOR}.${_cudnn_PATCHLEVEL}")
  endif()
endif()

find_package_handle_standard_args(CUDNN
  REQUIRED_VARS CUDNN_LIBRARY CUDNN_INCLUDE_DIR CUDNN_VERSION
  VERSION_VAR CUDNN_VERSION)

if(CUDNN_FOUND AND NOT TARGET CUDNN::cudnn)
  add_library(CUDNN::cudnn SHARED IMPORTED)
  set_target_properties(CUDNN::cudnn PROPERTIES
    IMPORTED_LOCATION "${CUDNN_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CUDNN_INCLUDE_DIR}")
endif()
mark_as_advanced(CUDNN_INCLUDE_DIR CUDNN_LIBRARY)
