-- The citus profile of docker-compose.yml, run once on the coordinator after migrate_schemas
-- (psql -v ON_ERROR_STOP=1 -f setup.sql): the workers joined, the public tables tenant rows name made
-- reference tables (tenants.citus.REFERENCE_TABLES, checked by manage.py check_citus), and every tenant
-- schema distributed (a schema created from now on is distributed as it is created, because
-- citus.enable_schema_based_sharding is on for the database). Safe to run again.
SELECT citus_set_coordinator_host('citus-coordinator', 5432);
SELECT citus_add_node('citus-worker-1', 5432);
SELECT citus_add_node('citus-worker-2', 5432);
DO $$
DECLARE name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['tenants_user', 'django_content_type', 'auth_permission', 'auth_group'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = ('public.' || name)::regclass) THEN
            PERFORM create_reference_table('public.' || name);
        END IF;
    END LOOP;
    FOR name IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'org\_%'
            AND nspname NOT IN (SELECT schema_name::text FROM citus_schemas) LOOP
        PERFORM citus_schema_distribute(name);
    END LOOP;
END $$;
