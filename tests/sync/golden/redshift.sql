-- redshift: read, Append from the watermark
SELECT "id", "User Id", "select", "amount", "created_at" FROM "sales"."Order ""Items""" WHERE "created_at" >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMP);
-- row count
SELECT COUNT(*) FROM "sales"."Order ""Items""" WHERE "created_at" >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMP);
-- columns of a table
SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'Order "Items"' AND table_schema = 'sales' ORDER BY ordinal_position NULLS FIRST;
-- Mirror: row checksums computed in the warehouse
SELECT "id", MD5(REGEXP_REPLACE(COALESCE('\037v' || CAST("id" AS VARCHAR(MAX)), '\037N') || COALESCE('\037v' || CAST("User Id" AS VARCHAR(MAX)), '\037N') || COALESCE('\037v' || CAST("select" AS VARCHAR(MAX)), '\037N') || COALESCE('\037v' || CAST("amount" AS VARCHAR(MAX)), '\037N') || COALESCE('\037v' || CAST("created_at" AS VARCHAR(MAX)), '\037N'), '(\037N)+$', '', 'g')) AS _dl_checksum FROM "sales"."Order ""Items""";
