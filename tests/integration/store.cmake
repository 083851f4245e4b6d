# The store under crashes, concurrent readers and writers, and write faults (the real binary;
# test_crash.py and test_store_concurrency.py also use bench/dw_gen_dataset from the same build).
dw_integration_test(integration_crash test_crash.py)
dw_integration_test(integration_store_concurrency test_store_concurrency.py)
dw_integration_test(integration_store_faults test_store_faults.py)
