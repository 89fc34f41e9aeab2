# ibverbs memory regions (arenakit::ibverbs).
if(TARGET arenakit_ibverbs)
  arenakit_add_test(NAME test_ibverbs_mapper SOURCES test_ibverbs_mapper.cpp LIBS arenakit::ibverbs)
endif()
