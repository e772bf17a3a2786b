ALTER TABLE bookings ALTER COLUMN room TYPE bigint;
