-- Arrival events used to carry the pickup code in their note, and every station
-- a parcel passed reads its events. The code stays on the parcel row only.
UPDATE market_parcel_events SET note = '已到站，取件码已发给收件人'
    WHERE status = 'at_village_station' AND note LIKE '取件码 %';
