VACUUM FULL events;
