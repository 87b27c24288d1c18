-- snowflake: read, Append from the watermark
SELECT "id", "User Id", TO_JSON("select") AS "select", "amount", "created_at" FROM "sales"."Order ""Items""" WHERE "created_at" >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMPNTZ);
-- row count
SELECT COUNT(*) FROM "sales"."Order ""Items""" WHERE "created_at" >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMPNTZ);
-- columns of a table
SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'Order "Items"' AND table_schema = 'sales' ORDER BY ordinal_position NULLS FIRST;
-- Mirror: row checksums computed in the warehouse
SELECT "id", MD5(REGEXP_REPLACE(COALESCE('\x1fv' || CAST("id" AS VARCHAR), '\x1fN') || COALESCE('\x1fv' || CAST("User Id" AS VARCHAR), '\x1fN') || COALESCE('\x1fv' || CAST("select" AS VARCHAR), '\x1fN') || COALESCE('\x1fv' || CAST("amount" AS VARCHAR), '\x1fN') || COALESCE('\x1fv' || CAST("created_at" AS VARCHAR), '\x1fN'), '(\x1fN)+$', '')) AS _dl_checksum FROM "sales"."Order ""Items""";
