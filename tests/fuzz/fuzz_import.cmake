# The import parser and the series-selector parser as fuzz targets, replayed from their corpora.
# Sorted after fuzz.cmake, which defines dw_fuzz_target().
dw_fuzz_target(import fuzz_import.c dw_store)
dw_fuzz_target(selector fuzz_selector.c dw_query)
