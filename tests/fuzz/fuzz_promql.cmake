# The PromQL parser and evaluator as a fuzz target, replayed from its corpus.
dw_fuzz_target(promql fuzz_promql.c dw_query)
