-- Outage policy (lm-agent(8)): when no license server of a configuration answers, the last
-- good counts stay in use while they are younger than outage_grace; after that the pool is
-- held whole until a server answers again. The reference wrote total=0/used=0 at once, which
-- both lost the data and looked like a real (empty) reading.
ALTER TABLE lm.configurations
    ADD COLUMN outage_grace integer NOT NULL DEFAULT 3600 CHECK (outage_grace > 0);

-- set by a report that could not read this feature's servers; cleared by the next good reading
ALTER TABLE lm.features ADD COLUMN failed_at timestamptz;
