-- Databases of the local stack (same as infra/local/stack/postgres.py creates natively).
CREATE DATABASE source;
CREATE DATABASE warehouse;
CREATE DATABASE registry;
