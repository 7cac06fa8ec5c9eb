-- Aggregate function combinators (sumIf, uniqExactState, ...): an aggregate with suffixes is the aggregate itself.
SELECT name FROM system.aggregate_function_combinators
