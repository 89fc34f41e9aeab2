# ibverbs memory regions and receive posts (arenakit::ibverbs).
if(TARGET arenakit_ibverbs)
  # Through the IbvOps seam with a fake libibverbs: run everywhere.
  arenakit_add_test(NAME test_ibverbs_mapper SOURCES test_ibverbs_mapper.cpp LIBS arenakit::ibverbs)
  arenakit_add_test(NAME test_ibverbs_recv SOURCES test_ibverbs_recv.cpp LIBS arenakit::ibverbs)

  # Real registrations: needs an RDMA device, exits 77 (Skipped) without one.
  add_executable(test_ibverbs_hardware test_ibverbs_hardware.cpp)
  target_link_libraries(test_ibverbs_hardware PRIVATE arenakit::ibverbs)
  arenakit_strict(test_ibverbs_hardware)
  add_test(NAME test_ibverbs_hardware COMMAND test_ibverbs_hardware)
  set_tests_properties(test_ibverbs_hardware PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS "hardware")
endif()
