DROP TABLE IF EXISTS load_leases;
