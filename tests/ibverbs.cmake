# ibverbs memory regions and receive posts (arenakit::ibverbs).
if(TARGET arenakit_ibverbs)
  # Through the IbvOps seam with a fake libibverbs: run everywhere.
  arenakit_add_test(NAME test_ibverbs_mapper SOURCES ibverbs/test_ibverbs_mapper.cpp LIBS arenakit::ibverbs)
  arenakit_add_test(NAME test_ibverbs_recv SOURCES ibverbs/test_ibverbs_recv.cpp LIBS arenakit::ibverbs)

  # Real registrations: needs an RDMA device, exits 77 (Skipped) without one.
  arenakit_add_hardware_test(NAME test_ibverbs_hardware SOURCES ibverbs/test_ibverbs_hardware.cpp LIBS arenakit::ibverbs)
endif()

# The receive pool's ibverbs door (RecvPool posted to a QP/SRQ, completions delivered).
if(TARGET arenakit_ibverbs)
  arenakit_add_test(NAME test_ibverbs_recv_pool SOURCES ibverbs/test_ibverbs_recv_pool.cpp LIBS arenakit::ibverbs)
endif()
