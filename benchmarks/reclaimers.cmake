# Reclaimers (issue 3): llist, release list, page pool and epoch domain
# against the mutex+condvar queue, liburcu, xenium and rte_mempool.
arenakit_add_benchmark(NAME bench_reclaim
  SOURCES bench_reclaim.cpp
  PEERS dpdk urcu xenium
  PEER_SOURCES peer_dpdk_reclaim.cpp peer_urcu_memb_reclaim.cpp peer_urcu_qsbr_reclaim.cpp
               peer_xenium_reclaim.cpp)
