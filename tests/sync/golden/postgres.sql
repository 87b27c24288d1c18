-- postgres: read, Append from the watermark
SELECT "id", CAST("User Id" AS TEXT) AS "User Id", CAST("select" AS TEXT) AS "select", CAST("amount" AS DOUBLE PRECISION) AS "amount", "created_at" AT TIME ZONE 'UTC' AS "created_at" FROM "sales"."Order ""Items""" WHERE "created_at" >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMPTZ);
-- row count
SELECT COUNT(*) FROM "sales"."Order ""Items""" WHERE "created_at" >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMPTZ);
-- columns of a table
SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'Order "Items"' AND table_schema = 'sales' ORDER BY ordinal_position NULLS FIRST;
-- Mirror: row checksums computed in the warehouse
SELECT "id", MD5(REGEXP_REPLACE(COALESCE('v' || CAST("id" AS TEXT), 'N') || COALESCE('v' || CAST("User Id" AS TEXT), 'N') || COALESCE('v' || CAST("select" AS TEXT), 'N') || COALESCE('v' || CAST("amount" AS TEXT), 'N') || COALESCE('v' || CAST("created_at" AS TEXT), 'N'), '(N)+$', '', 'g')) AS _dl_checksum FROM "sales"."Order ""Items""";
