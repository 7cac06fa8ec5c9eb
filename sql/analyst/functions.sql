-- Every function the engine knows, with the documentation category that decides whether analysts may call it
-- (aliases carry no category of their own: alias_to names the function they stand for).
SELECT name, alias_to, categories, toBool(is_aggregate) AS is_aggregate, toBool(case_insensitive) AS case_insensitive
FROM system.functions
