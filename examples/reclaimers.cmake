# Reclaimers (issue 6): the send-release list and the page-recycling pool.
arenakit_add_example(NAME example_release_list SOURCES release_list.cpp)
arenakit_add_example(NAME example_page_pool SOURCES page_pool.cpp)
