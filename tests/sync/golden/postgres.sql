-- postgres: read, Append from the watermark
SELECT "id", CAST("User Id" AS TEXT) AS "User Id", CAST("select" AS TEXT) AS "select", CAST("amount" AS DOUBLE PRECISION) AS "amount", "created_at" AT TIME ZONE 'UTC' AS "created_at" FROM "sales"."Order ""Items""" WHERE "created_at" >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMPTZ);
-- row count
SELECT COUNT(*) FROM "sales"."Order ""Items""" WHERE "created_at" >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMPTZ);
-- columns of a table
SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'Order "Items"' AND table_schema = 'sales' ORDER BY ordinal_position NULLS FIRST;
-- Mirror: row checksums computed in the warehouse
SELECT "id", CASE WHEN NOT "created_at" IS NULL THEN LPAD(TO_HEX(HASH_RECORD_EXTENDED(ROW("id", CAST("User Id" AS TEXT), CAST("select" AS TEXT), "amount", "created_at"), 0)), 16, '0') WHEN NOT "amount" IS NULL THEN LPAD(TO_HEX(HASH_RECORD_EXTENDED(ROW("id", CAST("User Id" AS TEXT), CAST("select" AS TEXT), "amount"), 0)), 16, '0') WHEN NOT "select" IS NULL THEN LPAD(TO_HEX(HASH_RECORD_EXTENDED(ROW("id", CAST("User Id" AS TEXT), CAST("select" AS TEXT)), 0)), 16, '0') WHEN NOT "User Id" IS NULL THEN LPAD(TO_HEX(HASH_RECORD_EXTENDED(ROW("id", CAST("User Id" AS TEXT)), 0)), 16, '0') WHEN NOT "id" IS NULL THEN LPAD(TO_HEX(HASH_RECORD_EXTENDED(ROW("id"), 0)), 16, '0') ELSE '0000000000000000' END AS _dl_checksum FROM "sales"."Order ""Items""";
