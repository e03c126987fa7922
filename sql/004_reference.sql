-- 004: reference data of the consular network: offices, procedures, which office offers which procedure,
-- working hours and holidays. Slots are generated from these in each office's local time (005_calendar),
-- so an office's time zone must be a zone this server knows: checked on insert and update below.
--
-- The seed is demo data for the network of Mexican embassies and consulates: real cities, countries and
-- IANA time zones; street addresses are public addresses as far as we know them, otherwise the city
-- centre. None of it is verified: check an office's address and kind before relying on them. Phone and
-- e-mail are left empty rather than guessed.

CREATE TABLE offices (
    code text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}[A-Z0-9]{0,5}$'),
    kind text NOT NULL CHECK (kind IN ('embassy', 'consulate_general', 'consulate', 'consular_section')),
    name_es text NOT NULL CHECK (length(name_es) BETWEEN 3 AND 200),
    name_en text NOT NULL CHECK (length(name_en) BETWEEN 3 AND 200),
    city text NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    country text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    country_name_es text NOT NULL CHECK (length(country_name_es) BETWEEN 2 AND 100),
    country_name_en text NOT NULL CHECK (length(country_name_en) BETWEEN 2 AND 100),
    -- the shape here; that the zone exists is checked by the trigger offices_time_zone_*
    time_zone text NOT NULL CHECK (time_zone ~ '^[A-Za-z][A-Za-z0-9_+/-]{1,63}$'),
    address text NOT NULL CHECK (length(address) BETWEEN 3 AND 300),
    phone text CHECK (phone ~ '^\+[0-9][0-9 ()-]{5,24}$'),
    email text CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' AND length(email) <= 254),
    active boolean NOT NULL DEFAULT true
);

COMMENT ON COLUMN offices.address IS 'best-effort public address, not verified; the city centre where unknown';
COMMENT ON COLUMN offices.time_zone IS 'IANA zone name as listed by pg_timezone_names (exact spelling)';

-- Search by country, then city (the public office list); city prefix search ignoring case.
CREATE INDEX offices_country_city ON offices (country, city);
CREATE INDEX offices_city_lower ON offices (lower(city) text_pattern_ops);

-- Whether a zone exists is a lookup in pg_timezone_names, which reads the whole zone database (~50 ms).
-- A per-row CHECK would pay that once per row (seconds for the seed), and would have to declare a
-- lookup of external data IMMUTABLE. A statement-level trigger checks each statement's distinct new
-- zones in one scan; an UPDATE that keeps every zone costs nothing. Exact names only: no abbreviations
-- ('PST'), POSIX strings ('UTC+5') or other spellings ('america/los_angeles'), which AT TIME ZONE would
-- accept with a different meaning or none.
CREATE FUNCTION offices_check_time_zones() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zones text[];
    bad text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(z.time_zone) INTO zones
        FROM (SELECT time_zone FROM new_offices EXCEPT SELECT time_zone FROM old_offices) z;
    ELSE
        SELECT array_agg(DISTINCT time_zone) INTO zones FROM new_offices;
    END IF;
    IF zones IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT z INTO bad
    FROM unnest(zones) AS z
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names t WHERE t.name = z)
    LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'offices.time_zone: % is not a time zone known to this server', bad
            USING ERRCODE = 'check_violation', TABLE = 'offices', COLUMN = 'time_zone',
                  CONSTRAINT = 'offices_time_zone_known';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER offices_time_zone_insert AFTER INSERT ON offices
    REFERENCING NEW TABLE AS new_offices
    FOR EACH STATEMENT EXECUTE FUNCTION offices_check_time_zones();
CREATE TRIGGER offices_time_zone_update AFTER UPDATE ON offices
    REFERENCING OLD TABLE AS old_offices NEW TABLE AS new_offices
    FOR EACH STATEMENT EXECUTE FUNCTION offices_check_time_zones();

CREATE TABLE procedures (
    code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,39}$'),
    name_es text NOT NULL CHECK (length(name_es) BETWEEN 3 AND 200),
    name_en text NOT NULL CHECK (length(name_en) BETWEEN 3 AND 200),
    duration_min integer NOT NULL CHECK (duration_min BETWEEN 5 AND 480),
    needs_appointment boolean NOT NULL,
    -- what to bring, one item per element, the same list in both languages
    documents_es text[] NOT NULL CHECK (cardinality(documents_es) >= 1 AND array_ndims(documents_es) = 1
                                        AND array_position(documents_es, NULL) IS NULL),
    documents_en text[] NOT NULL CHECK (cardinality(documents_en) >= 1 AND array_ndims(documents_en) = 1
                                        AND array_position(documents_en, NULL) IS NULL),
    CHECK (cardinality(documents_es) = cardinality(documents_en))
);

CREATE TABLE office_procedures (
    office_code text NOT NULL REFERENCES offices (code) ON DELETE RESTRICT,
    procedure_code text NOT NULL REFERENCES procedures (code) ON DELETE RESTRICT,
    PRIMARY KEY (office_code, procedure_code)
);
-- which offices offer a procedure
CREATE INDEX office_procedures_procedure ON office_procedures (procedure_code, office_code);

-- Opening hours in the office's local wall time; weekday is ISO (1 = Monday .. 7 = Sunday), as
-- extract(isodow ...). A day may have several intervals (split shifts).
CREATE TABLE office_hours (
    office_code text NOT NULL REFERENCES offices (code) ON DELETE RESTRICT,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    opens time NOT NULL,
    closes time NOT NULL,
    PRIMARY KEY (office_code, weekday, opens),
    CHECK (opens < closes)
);

CREATE TABLE office_holidays (
    office_code text NOT NULL REFERENCES offices (code) ON DELETE RESTRICT,
    day date NOT NULL,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    PRIMARY KEY (office_code, day)
);
CREATE INDEX office_holidays_day ON office_holidays (day);

-- ---- seed: procedures ------------------------------------------------------------------------------

INSERT INTO procedures (code, name_es, name_en, duration_min, needs_appointment, documents_es, documents_en)
VALUES
('passport_first', 'Pasaporte por primera vez', 'Passport (first issue)', 30, true,
 ARRAY['Acta de nacimiento mexicana o documento probatorio de la nacionalidad mexicana (original)',
       'Identificación oficial vigente con fotografía', 'CURP',
       'Comprobante de domicilio', 'Pago de derechos'],
 ARRAY['Mexican birth certificate or other proof of Mexican nationality (original)',
       'Valid official photo ID', 'CURP (population registry code)',
       'Proof of address', 'Payment of fees']),
('passport_renewal', 'Renovación de pasaporte', 'Passport renewal', 20, true,
 ARRAY['Pasaporte mexicano anterior', 'Identificación oficial vigente con fotografía', 'CURP',
       'Pago de derechos'],
 ARRAY['Previous Mexican passport', 'Valid official photo ID', 'CURP (population registry code)',
       'Payment of fees']),
('consular_id', 'Matrícula consular', 'Consular ID card (matrícula consular)', 20, true,
 ARRAY['Acta de nacimiento mexicana o pasaporte mexicano', 'Identificación oficial vigente con fotografía',
       'Comprobante de domicilio en la circunscripción del consulado', 'CURP', 'Pago de derechos'],
 ARRAY['Mexican birth certificate or Mexican passport', 'Valid official photo ID',
       'Proof of address within the consular district', 'CURP (population registry code)',
       'Payment of fees']),
('visa', 'Visa para personas extranjeras', 'Visa for foreign nationals', 30, true,
 ARRAY['Pasaporte vigente', 'Formato de solicitud de visa lleno', 'Una fotografía reciente',
       'Documento que acredite la estancia legal en el país donde se solicita',
       'Comprobante de solvencia económica o carta invitación', 'Pago de derechos'],
 ARRAY['Valid passport', 'Completed visa application form', 'One recent photograph',
       'Proof of legal stay in the country where you apply',
       'Proof of financial means or letter of invitation', 'Payment of fees']),
('birth_registration', 'Registro de nacimiento', 'Birth registration', 45, true,
 ARRAY['Acta de nacimiento extranjera (legalizada o apostillada y, en su caso, traducida)',
       'Documento probatorio de la nacionalidad mexicana del padre o de la madre',
       'Identificación oficial de los padres', 'Dos testigos con identificación oficial',
       'Comprobante de domicilio'],
 ARRAY['Foreign birth certificate (legalised or apostilled and, where needed, translated)',
       'Proof of Mexican nationality of the father or the mother',
       'Official photo ID of the parents', 'Two witnesses with official photo ID',
       'Proof of address']),
('marriage_registration', 'Registro de matrimonio', 'Marriage registration', 45, true,
 ARRAY['Acta de matrimonio extranjera (legalizada o apostillada y, en su caso, traducida)',
       'Documento probatorio de la nacionalidad mexicana de al menos un cónyuge',
       'Identificación oficial de ambos cónyuges', 'Comprobante de domicilio', 'Pago de derechos'],
 ARRAY['Foreign marriage certificate (legalised or apostilled and, where needed, translated)',
       'Proof of Mexican nationality of at least one spouse',
       'Official photo ID of both spouses', 'Proof of address', 'Payment of fees']),
('power_of_attorney', 'Poder notarial', 'Power of attorney', 60, true,
 ARRAY['Identificación oficial vigente con fotografía', 'Datos completos del apoderado',
       'Documentos del bien o del asunto objeto del poder (escrituras, expedientes)',
       'Acta de matrimonio, si el otorgante es casado', 'Pago de derechos'],
 ARRAY['Valid official photo ID', 'Full details of the attorney-in-fact',
       'Documents of the property or matter covered (deeds, case files)',
       'Marriage certificate, if the grantor is married', 'Payment of fees']),
('legalisation', 'Legalización de documentos', 'Legalisation of documents', 15, true,
 ARRAY['Documento público original por legalizar', 'Identificación oficial vigente con fotografía',
       'Pago de derechos'],
 ARRAY['Original public document to be legalised', 'Valid official photo ID', 'Payment of fees']),
('certificate_of_nationality', 'Declaratoria de nacionalidad mexicana por nacimiento',
 'Certificate of Mexican nationality by birth', 30, true,
 ARRAY['Solicitud DNN-1 llena', 'Acta de nacimiento mexicana o del extranjero inscrita',
       'Identificación oficial vigente con fotografía', 'Dos fotografías recientes', 'Pago de derechos'],
 ARRAY['Completed DNN-1 application', 'Mexican birth certificate or registered foreign one',
       'Valid official photo ID', 'Two recent photographs', 'Payment of fees']),
('voter_id', 'Credencial para votar desde el extranjero', 'Voter ID card from abroad', 30, true,
 ARRAY['Acta de nacimiento mexicana o pasaporte mexicano', 'Identificación oficial vigente con fotografía',
       'Comprobante de domicilio en México o en el extranjero'],
 ARRAY['Mexican birth certificate or Mexican passport', 'Valid official photo ID',
       'Proof of address in Mexico or abroad']),
('death_registration', 'Registro de defunción', 'Death registration', 45, true,
 ARRAY['Certificado o acta de defunción extranjera (legalizada o apostillada)',
       'Documento probatorio de la nacionalidad mexicana de la persona fallecida',
       'Identificación oficial de quien solicita', 'Pago de derechos'],
 ARRAY['Foreign death certificate (legalised or apostilled)',
       'Proof of Mexican nationality of the deceased',
       'Official photo ID of the applicant', 'Payment of fees']),
-- walk-in: no appointment, served in order of arrival
('certified_copy', 'Copia certificada de acta del registro civil', 'Certified copy of a civil registry record',
 10, false,
 ARRAY['Datos del acta (nombre, fecha y lugar del registro)', 'Identificación oficial vigente con fotografía',
       'Pago de derechos'],
 ARRAY['Details of the record (name, date and place of registration)', 'Valid official photo ID',
       'Payment of fees']);

-- ---- seed: offices ---------------------------------------------------------------------------------
-- Names are made from the kind: "Consulado (General) de México en <city_es>" for consulates,
-- "Embajada de México en <country>" for embassies (their consular sections serve the public).

INSERT INTO offices (code, kind, name_es, name_en, city, country, country_name_es, country_name_en, time_zone,
                     address)
SELECT o.code, o.kind,
       CASE o.kind
           WHEN 'embassy' THEN 'Embajada de México en ' || coalesce(c.in_es, c.name_es)
           WHEN 'consular_section' THEN 'Sección Consular de la Embajada de México en ' || coalesce(c.in_es, c.name_es)
           WHEN 'consulate_general' THEN 'Consulado General de México en ' || o.city_es
           ELSE 'Consulado de México en ' || o.city_es
       END,
       CASE o.kind
           WHEN 'embassy' THEN 'Embassy of Mexico in ' || coalesce(c.in_en, c.name_en)
           WHEN 'consular_section' THEN 'Consular Section of the Embassy of Mexico in ' || coalesce(c.in_en, c.name_en)
           WHEN 'consulate_general' THEN 'Consulate General of Mexico in ' || o.city_en
           ELSE 'Consulate of Mexico in ' || o.city_en
       END,
       o.city_en, o.country, c.name_es, c.name_en, o.tz, o.address
FROM (VALUES
-- United States (and Puerto Rico)
('ABQ', 'consulate', 'Albuquerque', 'Albuquerque', 'US', 'America/Denver', '1610 4th St NW, Albuquerque, NM 87102'),
('ATL', 'consulate_general', 'Atlanta', 'Atlanta', 'US', 'America/New_York', '1700 Chantilly Dr NE, Atlanta, GA 30324'),
('AUS', 'consulate_general', 'Austin', 'Austin', 'US', 'America/Chicago', '5202 E Ben White Blvd, Austin, TX 78741'),
('BOI', 'consulate', 'Boise', 'Boise', 'US', 'America/Boise', 'Downtown Boise, ID (city centre)'),
('BOS', 'consulate', 'Boston', 'Boston', 'US', 'America/New_York', '55 Franklin St, Boston, MA 02110'),
('BRO', 'consulate', 'Brownsville', 'Brownsville', 'US', 'America/Chicago', '301 Mexico Blvd, Brownsville, TX 78520'),
('CXL', 'consulate', 'Calexico', 'Calexico', 'US', 'America/Los_Angeles', '408 Heber Ave, Calexico, CA 92231'),
('CHI', 'consulate_general', 'Chicago', 'Chicago', 'US', 'America/Chicago', '204 S Ashland Ave, Chicago, IL 60607'),
('DAL', 'consulate_general', 'Dallas', 'Dallas', 'US', 'America/Chicago', '1210 River Bend Dr, Dallas, TX 75247'),
('DRT', 'consulate', 'Del Rio', 'Del Rio', 'US', 'America/Chicago', '2398 Spur 239, Del Rio, TX 78840'),
('DEN', 'consulate_general', 'Denver', 'Denver', 'US', 'America/Denver', '5350 Leetsdale Dr, Denver, CO 80246'),
('DTT', 'consulate', 'Detroit', 'Detroit', 'US', 'America/Detroit', '645 Griswold St, Detroit, MI 48226'),
('DUG', 'consulate', 'Douglas', 'Douglas', 'US', 'America/Phoenix', '1201 F Ave, Douglas, AZ 85607'),
('EGP', 'consulate', 'Eagle Pass', 'Eagle Pass', 'US', 'America/Chicago', '2252 E Garrison St, Eagle Pass, TX 78852'),
('ELP', 'consulate_general', 'El Paso', 'El Paso', 'US', 'America/Denver', '910 E San Antonio Ave, El Paso, TX 79901'),
('FAT', 'consulate', 'Fresno', 'Fresno', 'US', 'America/Los_Angeles', '7435 N Ingram Ave, Fresno, CA 93711'),
('HOU', 'consulate_general', 'Houston', 'Houston', 'US', 'America/Chicago', '4507 San Jacinto St, Houston, TX 77004'),
('IND', 'consulate', 'Indianápolis', 'Indianapolis', 'US', 'America/Indiana/Indianapolis', '39 W Jackson Pl, Indianapolis, IN 46225'),
('MKC', 'consulate', 'Kansas City', 'Kansas City', 'US', 'America/Chicago', '1600 Baltimore Ave, Kansas City, MO 64108'),
('LRD', 'consulate_general', 'Laredo', 'Laredo', 'US', 'America/Chicago', '1612 Farragut St, Laredo, TX 78040'),
('LAS', 'consulate', 'Las Vegas', 'Las Vegas', 'US', 'America/Los_Angeles', '1810 E Sahara Ave, Las Vegas, NV 89104'),
('LIT', 'consulate', 'Little Rock', 'Little Rock', 'US', 'America/Chicago', '3500 S University Ave, Little Rock, AR 72204'),
('LAX', 'consulate_general', 'Los Ángeles', 'Los Angeles', 'US', 'America/Los_Angeles', '2401 W 6th St, Los Angeles, CA 90057'),
('MFE', 'consulate', 'McAllen', 'McAllen', 'US', 'America/Chicago', '600 S Broadway St, McAllen, TX 78501'),
('MIA', 'consulate_general', 'Miami', 'Miami', 'US', 'America/New_York', '1399 SW 1st Ave, Miami, FL 33130'),
('MKE', 'consulate', 'Milwaukee', 'Milwaukee', 'US', 'America/Chicago', '1443 N Prospect Ave, Milwaukee, WI 53202'),
('NOG', 'consulate_general', 'Nogales', 'Nogales', 'US', 'America/Phoenix', '135 W Cardwell St, Nogales, AZ 85621'),
('MSY', 'consulate', 'Nueva Orleans', 'New Orleans', 'US', 'America/Chicago', '901 Convention Center Blvd, New Orleans, LA 70130'),
('NYC', 'consulate_general', 'Nueva York', 'New York', 'US', 'America/New_York', '27 E 39th St, New York, NY 10016'),
('OMA', 'consulate', 'Omaha', 'Omaha', 'US', 'America/Chicago', '7444 F St, Omaha, NE 68127'),
('ORL', 'consulate', 'Orlando', 'Orlando', 'US', 'America/New_York', '2550 Technology Dr, Orlando, FL 32804'),
('OXR', 'consulate', 'Oxnard', 'Oxnard', 'US', 'America/Los_Angeles', '3151 W 5th St, Oxnard, CA 93030'),
('PHL', 'consulate', 'Filadelfia', 'Philadelphia', 'US', 'America/New_York', '111 S Independence Mall E, Philadelphia, PA 19106'),
('PHX', 'consulate_general', 'Phoenix', 'Phoenix', 'US', 'America/Phoenix', '320 E McDowell Rd, Phoenix, AZ 85004'),
('PDX', 'consulate', 'Portland', 'Portland', 'US', 'America/Los_Angeles', '1305 SW 12th Ave, Portland, OR 97201'),
('PRE', 'consulate', 'Presidio', 'Presidio', 'US', 'America/Chicago', '730 O''Reilly St, Presidio, TX 79845'),
('RDU', 'consulate', 'Raleigh', 'Raleigh', 'US', 'America/New_York', '431 Raleigh View Rd, Raleigh, NC 27610'),
('SAC', 'consulate_general', 'Sacramento', 'Sacramento', 'US', 'America/Los_Angeles', '2093 Arena Blvd, Sacramento, CA 95834'),
('SLC', 'consulate', 'Salt Lake City', 'Salt Lake City', 'US', 'America/Denver', '660 S 200 E, Salt Lake City, UT 84111'),
('SAT', 'consulate_general', 'San Antonio', 'San Antonio', 'US', 'America/Chicago', '127 Navarro St, San Antonio, TX 78205'),
('SBD', 'consulate', 'San Bernardino', 'San Bernardino', 'US', 'America/Los_Angeles', '293 N D St, San Bernardino, CA 92401'),
('SAN', 'consulate_general', 'San Diego', 'San Diego', 'US', 'America/Los_Angeles', '1549 India St, San Diego, CA 92101'),
('SFO', 'consulate_general', 'San Francisco', 'San Francisco', 'US', 'America/Los_Angeles', '532 Folsom St, San Francisco, CA 94105'),
('SJC', 'consulate', 'San José', 'San Jose', 'US', 'America/Los_Angeles', '302 Enzo Dr, San Jose, CA 95138'),
('SNA', 'consulate', 'Santa Ana', 'Santa Ana', 'US', 'America/Los_Angeles', '2100 E 4th St, Santa Ana, CA 92705'),
('SEA', 'consulate', 'Seattle', 'Seattle', 'US', 'America/Los_Angeles', '2132 3rd Ave, Seattle, WA 98121'),
('MSP', 'consulate', 'Saint Paul', 'St. Paul', 'US', 'America/Chicago', '797 E 7th St, St. Paul, MN 55106'),
('TUS', 'consulate', 'Tucson', 'Tucson', 'US', 'America/Phoenix', '3915 E Broadway Blvd, Tucson, AZ 85711'),
('WAS', 'consulate', 'Washington', 'Washington', 'US', 'America/New_York', '1250 23rd St NW, Washington, DC 20037'),
('YUM', 'consulate', 'Yuma', 'Yuma', 'US', 'America/Phoenix', 'Downtown Yuma, AZ (city centre)'),
('SJU', 'consulate', 'San Juan', 'San Juan', 'PR', 'America/Puerto_Rico', 'Old San Juan, PR (city centre)'),
-- Canada
('YOW', 'embassy', 'Ottawa', 'Ottawa', 'CA', 'America/Toronto', '45 O''Connor St, Suite 1000, Ottawa, ON K1P 1A4'),
('YTO', 'consulate_general', 'Toronto', 'Toronto', 'CA', 'America/Toronto', '11 King St W, Suite 350, Toronto, ON M5H 4C7'),
('YMQ', 'consulate_general', 'Montreal', 'Montreal', 'CA', 'America/Toronto', '2055 Rue Peel, Bureau 1000, Montréal, QC H3A 1V4'),
('YVR', 'consulate_general', 'Vancouver', 'Vancouver', 'CA', 'America/Vancouver', '1177 W Hastings St, Suite 411, Vancouver, BC V6E 2K3'),
('YYC', 'consulate', 'Calgary', 'Calgary', 'CA', 'America/Edmonton', '833 4 Ave SW, Suite 1100, Calgary, AB T2P 3T5'),
('LEA', 'consulate', 'Leamington', 'Leamington', 'CA', 'America/Toronto', '199 Talbot St W, Leamington, ON N8H 1N8'),
-- Central America and the Caribbean
('GUA', 'embassy', 'Ciudad de Guatemala', 'Guatemala City', 'GT', 'America/Guatemala', '2a Avenida 7-57, Zona 10, Ciudad de Guatemala'),
('TCU', 'consulate', 'Tecún Umán', 'Tecún Umán', 'GT', 'America/Guatemala', 'Tecún Umán, San Marcos (city centre)'),
('AAZ', 'consulate', 'Quetzaltenango', 'Quetzaltenango', 'GT', 'America/Guatemala', 'Quetzaltenango (city centre)'),
('BCV', 'embassy', 'Belmopan', 'Belmopan', 'BZ', 'America/Belize', 'Belmopan (city centre)'),
('SAL', 'embassy', 'San Salvador', 'San Salvador', 'SV', 'America/El_Salvador', 'Calle Circunvalación y Pasaje 12, Colonia San Benito, San Salvador'),
('TGU', 'embassy', 'Tegucigalpa', 'Tegucigalpa', 'HN', 'America/Tegucigalpa', 'Avenida República de México 2402, Colonia Palmira, Tegucigalpa'),
('SAP', 'consulate', 'San Pedro Sula', 'San Pedro Sula', 'HN', 'America/Tegucigalpa', 'San Pedro Sula (city centre)'),
('MGA', 'embassy', 'Managua', 'Managua', 'NI', 'America/Managua', 'Managua (city centre)'),
('SJO', 'embassy', 'San José', 'San José', 'CR', 'America/Costa_Rica', 'Avenida 7, Calles 13 y 15, Barrio Otoya, San José'),
('PTY', 'embassy', 'Panamá', 'Panama City', 'PA', 'America/Panama', 'Panama City (city centre)'),
('HAV', 'embassy', 'La Habana', 'Havana', 'CU', 'America/Havana', 'Calle 12 No. 518, Miramar, Playa, La Habana'),
('SDQ', 'embassy', 'Santo Domingo', 'Santo Domingo', 'DO', 'America/Santo_Domingo', 'Santo Domingo (city centre)'),
('PAP', 'embassy', 'Puerto Príncipe', 'Port-au-Prince', 'HT', 'America/Port-au-Prince', 'Pétion-Ville, Port-au-Prince (city centre)'),
('KIN', 'embassy', 'Kingston', 'Kingston', 'JM', 'America/Jamaica', 'New Kingston, Kingston (city centre)'),
('POS', 'embassy', 'Puerto España', 'Port of Spain', 'TT', 'America/Port_of_Spain', 'Port of Spain (city centre)'),
('BGI', 'embassy', 'Bridgetown', 'Bridgetown', 'BB', 'America/Barbados', 'Bridgetown (city centre)'),
('SLU', 'embassy', 'Castries', 'Castries', 'LC', 'America/St_Lucia', 'Castries (city centre)'),
-- South America
('BOG', 'embassy', 'Bogotá', 'Bogotá', 'CO', 'America/Bogota', 'Calle 113 No. 7-21, Bogotá'),
('CCS', 'embassy', 'Caracas', 'Caracas', 'VE', 'America/Caracas', 'Caracas (city centre)'),
('UIO', 'embassy', 'Quito', 'Quito', 'EC', 'America/Guayaquil', 'Quito (city centre)'),
('LIM', 'embassy', 'Lima', 'Lima', 'PE', 'America/Lima', 'Avenida Jorge Basadre 710, San Isidro, Lima'),
('LPB', 'embassy', 'La Paz', 'La Paz', 'BO', 'America/La_Paz', 'La Paz (city centre)'),
('SCL', 'embassy', 'Santiago', 'Santiago', 'CL', 'America/Santiago', 'Félix de Amesti 128, Las Condes, Santiago'),
('BUE', 'embassy', 'Buenos Aires', 'Buenos Aires', 'AR', 'America/Argentina/Buenos_Aires', 'Arcos 1650, Belgrano, Buenos Aires'),
('MVD', 'embassy', 'Montevideo', 'Montevideo', 'UY', 'America/Montevideo', 'Montevideo (city centre)'),
('ASU', 'embassy', 'Asunción', 'Asunción', 'PY', 'America/Asuncion', 'Asunción (city centre)'),
('BSB', 'embassy', 'Brasilia', 'Brasília', 'BR', 'America/Sao_Paulo', 'SES Avenida das Nações, Quadra 805, Lote 18, Brasília'),
('SAO', 'consulate_general', 'São Paulo', 'São Paulo', 'BR', 'America/Sao_Paulo', 'São Paulo (city centre)'),
('RIO', 'consulate_general', 'Río de Janeiro', 'Rio de Janeiro', 'BR', 'America/Sao_Paulo', 'Rio de Janeiro (city centre)'),
-- Europe
('MAD', 'embassy', 'Madrid', 'Madrid', 'ES', 'Europe/Madrid', 'Carrera de San Jerónimo 46, 28014 Madrid'),
('BCN', 'consulate_general', 'Barcelona', 'Barcelona', 'ES', 'Europe/Madrid', 'Paseo de la Bonanova 55, 08017 Barcelona'),
('PAR', 'embassy', 'París', 'Paris', 'FR', 'Europe/Paris', '9 Rue de Longchamp, 75116 Paris'),
('LON', 'embassy', 'Londres', 'London', 'GB', 'Europe/London', '16 St George St, London W1S 1FD'),
('DUB', 'embassy', 'Dublín', 'Dublin', 'IE', 'Europe/Dublin', 'Dublin (city centre)'),
('BER', 'embassy', 'Berlín', 'Berlin', 'DE', 'Europe/Berlin', 'Klingelhöferstraße 3, 10785 Berlin'),
('FRA', 'consulate_general', 'Fráncfort', 'Frankfurt', 'DE', 'Europe/Berlin', 'Taunusanlage 21, 60325 Frankfurt am Main'),
('ROM', 'embassy', 'Roma', 'Rome', 'IT', 'Europe/Rome', 'Via Lazzaro Spallanzani 16, 00161 Roma'),
('MIL', 'consulate', 'Milán', 'Milan', 'IT', 'Europe/Rome', 'Milano (city centre)'),
('VIE', 'embassy', 'Viena', 'Vienna', 'AT', 'Europe/Vienna', 'Renngasse 5, 1010 Wien'),
('BRN', 'embassy', 'Berna', 'Bern', 'CH', 'Europe/Zurich', 'Weltpoststrasse 20, 3015 Bern'),
('BRU', 'embassy', 'Bruselas', 'Brussels', 'BE', 'Europe/Brussels', 'Avenue Franklin Roosevelt 94, 1050 Bruxelles'),
('HAG', 'embassy', 'La Haya', 'The Hague', 'NL', 'Europe/Amsterdam', 'Nassauplein 28, 2585 EC Den Haag'),
('LIS', 'embassy', 'Lisboa', 'Lisbon', 'PT', 'Europe/Lisbon', 'Estrada de Monsanto 78, 1500-462 Lisboa'),
('STO', 'embassy', 'Estocolmo', 'Stockholm', 'SE', 'Europe/Stockholm', 'Stockholm (city centre)'),
('CPH', 'embassy', 'Copenhague', 'Copenhagen', 'DK', 'Europe/Copenhagen', 'København (city centre)'),
('OSL', 'embassy', 'Oslo', 'Oslo', 'NO', 'Europe/Oslo', 'Oslo (city centre)'),
('HEL', 'embassy', 'Helsinki', 'Helsinki', 'FI', 'Europe/Helsinki', 'Helsinki (city centre)'),
('WAW', 'embassy', 'Varsovia', 'Warsaw', 'PL', 'Europe/Warsaw', 'Warszawa (city centre)'),
('PRG', 'embassy', 'Praga', 'Prague', 'CZ', 'Europe/Prague', 'Praha (city centre)'),
('BUD', 'embassy', 'Budapest', 'Budapest', 'HU', 'Europe/Budapest', 'Budapest (city centre)'),
('BUH', 'embassy', 'Bucarest', 'Bucharest', 'RO', 'Europe/Bucharest', 'București (city centre)'),
('ATH', 'embassy', 'Atenas', 'Athens', 'GR', 'Europe/Athens', 'Athens (city centre)'),
('ANK', 'embassy', 'Ankara', 'Ankara', 'TR', 'Europe/Istanbul', 'Ankara (city centre)'),
('IST', 'consulate', 'Estambul', 'Istanbul', 'TR', 'Europe/Istanbul', 'İstanbul (city centre)'),
('MOW', 'embassy', 'Moscú', 'Moscow', 'RU', 'Europe/Moscow', 'Bolshaya Yakimanka 33, Moscow'),
('IEV', 'embassy', 'Kiev', 'Kyiv', 'UA', 'Europe/Kyiv', 'Kyiv (city centre)'),
('BEG', 'embassy', 'Belgrado', 'Belgrade', 'RS', 'Europe/Belgrade', 'Beograd (city centre)'),
('GYD', 'embassy', 'Bakú', 'Baku', 'AZ', 'Asia/Baku', 'Baku (city centre)'),
-- Middle East and Africa
('TLV', 'embassy', 'Tel Aviv', 'Tel Aviv', 'IL', 'Asia/Jerusalem', 'Tel Aviv (city centre)'),
('BEY', 'embassy', 'Beirut', 'Beirut', 'LB', 'Asia/Beirut', 'Beirut (city centre)'),
('RUH', 'embassy', 'Riad', 'Riyadh', 'SA', 'Asia/Riyadh', 'Diplomatic Quarter, Riyadh'),
('AUH', 'embassy', 'Abu Dabi', 'Abu Dhabi', 'AE', 'Asia/Dubai', 'Abu Dhabi (city centre)'),
('DOH', 'embassy', 'Doha', 'Doha', 'QA', 'Asia/Qatar', 'Doha (city centre)'),
('KWI', 'embassy', 'Kuwait', 'Kuwait City', 'KW', 'Asia/Kuwait', 'Kuwait City (city centre)'),
('THR', 'embassy', 'Teherán', 'Tehran', 'IR', 'Asia/Tehran', 'Tehran (city centre)'),
('CAI', 'embassy', 'El Cairo', 'Cairo', 'EG', 'Africa/Cairo', 'Cairo (city centre)'),
('RBA', 'embassy', 'Rabat', 'Rabat', 'MA', 'Africa/Casablanca', 'Rabat (city centre)'),
('ALG', 'embassy', 'Argel', 'Algiers', 'DZ', 'Africa/Algiers', 'Alger (city centre)'),
('ABV', 'embassy', 'Abuya', 'Abuja', 'NG', 'Africa/Lagos', 'Abuja (city centre)'),
('ACC', 'embassy', 'Acra', 'Accra', 'GH', 'Africa/Accra', 'Accra (city centre)'),
('NBO', 'embassy', 'Nairobi', 'Nairobi', 'KE', 'Africa/Nairobi', 'Nairobi (city centre)'),
('ADD', 'embassy', 'Adís Abeba', 'Addis Ababa', 'ET', 'Africa/Addis_Ababa', 'Addis Ababa (city centre)'),
('PRY', 'embassy', 'Pretoria', 'Pretoria', 'ZA', 'Africa/Johannesburg', 'Pretoria (city centre)'),
-- Asia and Oceania
('DEL', 'embassy', 'Nueva Delhi', 'New Delhi', 'IN', 'Asia/Kolkata', 'C-8 Anand Niketan, New Delhi 110021'),
('BJS', 'embassy', 'Pekín', 'Beijing', 'CN', 'Asia/Shanghai', '5 Sanlitun Dongwujie, Chaoyang District, Beijing'),
('SHA', 'consulate_general', 'Shanghái', 'Shanghai', 'CN', 'Asia/Shanghai', 'Shanghai (city centre)'),
('CAN', 'consulate_general', 'Cantón', 'Guangzhou', 'CN', 'Asia/Shanghai', 'Guangzhou (city centre)'),
('HKG', 'consulate_general', 'Hong Kong', 'Hong Kong', 'HK', 'Asia/Hong_Kong', 'Hong Kong (city centre)'),
('TYO', 'embassy', 'Tokio', 'Tokyo', 'JP', 'Asia/Tokyo', '2-15-1 Nagatacho, Chiyoda-ku, Tokyo'),
('SEL', 'embassy', 'Seúl', 'Seoul', 'KR', 'Asia/Seoul', 'Seoul (city centre)'),
('MNL', 'embassy', 'Manila', 'Manila', 'PH', 'Asia/Manila', 'Makati, Manila (city centre)'),
('JKT', 'embassy', 'Yakarta', 'Jakarta', 'ID', 'Asia/Jakarta', 'Jakarta (city centre)'),
('KUL', 'embassy', 'Kuala Lumpur', 'Kuala Lumpur', 'MY', 'Asia/Kuala_Lumpur', 'Kuala Lumpur (city centre)'),
('SIN', 'embassy', 'Singapur', 'Singapore', 'SG', 'Asia/Singapore', 'Singapore (city centre)'),
('BKK', 'embassy', 'Bangkok', 'Bangkok', 'TH', 'Asia/Bangkok', 'Bangkok (city centre)'),
('HAN', 'embassy', 'Hanói', 'Hanoi', 'VN', 'Asia/Ho_Chi_Minh', 'Hà Nội (city centre)'),
('CBR', 'embassy', 'Canberra', 'Canberra', 'AU', 'Australia/Sydney', '14 Perth Ave, Yarralumla, ACT 2600'),
('SYD', 'consulate', 'Sídney', 'Sydney', 'AU', 'Australia/Sydney', 'Sydney (city centre)'),
('WLG', 'embassy', 'Wellington', 'Wellington', 'NZ', 'Pacific/Auckland', 'Wellington (city centre)')
) AS o (code, kind, city_es, city_en, country, tz, address)
JOIN (VALUES
('US', 'Estados Unidos', 'United States', NULL, NULL),
('PR', 'Puerto Rico', 'Puerto Rico', NULL, NULL),
('CA', 'Canadá', 'Canada', NULL, NULL),
('GT', 'Guatemala', 'Guatemala', NULL, NULL),
('BZ', 'Belice', 'Belize', NULL, NULL),
('SV', 'El Salvador', 'El Salvador', NULL, NULL),
('HN', 'Honduras', 'Honduras', NULL, NULL),
('NI', 'Nicaragua', 'Nicaragua', NULL, NULL),
('CR', 'Costa Rica', 'Costa Rica', NULL, NULL),
('PA', 'Panamá', 'Panama', NULL, NULL),
('CU', 'Cuba', 'Cuba', NULL, NULL),
('DO', 'República Dominicana', 'Dominican Republic', 'la República Dominicana', 'the Dominican Republic'),
('HT', 'Haití', 'Haiti', NULL, NULL),
('JM', 'Jamaica', 'Jamaica', NULL, NULL),
('TT', 'Trinidad y Tobago', 'Trinidad and Tobago', NULL, NULL),
('BB', 'Barbados', 'Barbados', NULL, NULL),
('LC', 'Santa Lucía', 'Saint Lucia', NULL, NULL),
('CO', 'Colombia', 'Colombia', NULL, NULL),
('VE', 'Venezuela', 'Venezuela', NULL, NULL),
('EC', 'Ecuador', 'Ecuador', NULL, NULL),
('PE', 'Perú', 'Peru', NULL, NULL),
('BO', 'Bolivia', 'Bolivia', NULL, NULL),
('CL', 'Chile', 'Chile', NULL, NULL),
('AR', 'Argentina', 'Argentina', NULL, NULL),
('UY', 'Uruguay', 'Uruguay', NULL, NULL),
('PY', 'Paraguay', 'Paraguay', NULL, NULL),
('BR', 'Brasil', 'Brazil', NULL, NULL),
('ES', 'España', 'Spain', NULL, NULL),
('FR', 'Francia', 'France', NULL, NULL),
('GB', 'Reino Unido', 'United Kingdom', 'el Reino Unido', 'the United Kingdom'),
('IE', 'Irlanda', 'Ireland', NULL, NULL),
('DE', 'Alemania', 'Germany', NULL, NULL),
('IT', 'Italia', 'Italy', NULL, NULL),
('AT', 'Austria', 'Austria', NULL, NULL),
('CH', 'Suiza', 'Switzerland', NULL, NULL),
('BE', 'Bélgica', 'Belgium', NULL, NULL),
('NL', 'Países Bajos', 'Netherlands', 'los Países Bajos', 'the Netherlands'),
('PT', 'Portugal', 'Portugal', NULL, NULL),
('SE', 'Suecia', 'Sweden', NULL, NULL),
('DK', 'Dinamarca', 'Denmark', NULL, NULL),
('NO', 'Noruega', 'Norway', NULL, NULL),
('FI', 'Finlandia', 'Finland', NULL, NULL),
('PL', 'Polonia', 'Poland', NULL, NULL),
('CZ', 'República Checa', 'Czech Republic', 'la República Checa', 'the Czech Republic'),
('HU', 'Hungría', 'Hungary', NULL, NULL),
('RO', 'Rumania', 'Romania', NULL, NULL),
('GR', 'Grecia', 'Greece', NULL, NULL),
('TR', 'Turquía', 'Türkiye', NULL, NULL),
('RU', 'Rusia', 'Russia', NULL, NULL),
('UA', 'Ucrania', 'Ukraine', NULL, NULL),
('RS', 'Serbia', 'Serbia', NULL, NULL),
('AZ', 'Azerbaiyán', 'Azerbaijan', NULL, NULL),
('IL', 'Israel', 'Israel', NULL, NULL),
('LB', 'Líbano', 'Lebanon', 'el Líbano', 'Lebanon'),
('SA', 'Arabia Saudita', 'Saudi Arabia', NULL, NULL),
('AE', 'Emiratos Árabes Unidos', 'United Arab Emirates', 'los Emiratos Árabes Unidos', 'the United Arab Emirates'),
('QA', 'Catar', 'Qatar', NULL, NULL),
('KW', 'Kuwait', 'Kuwait', NULL, NULL),
('IR', 'Irán', 'Iran', NULL, NULL),
('EG', 'Egipto', 'Egypt', NULL, NULL),
('MA', 'Marruecos', 'Morocco', NULL, NULL),
('DZ', 'Argelia', 'Algeria', NULL, NULL),
('NG', 'Nigeria', 'Nigeria', NULL, NULL),
('GH', 'Ghana', 'Ghana', NULL, NULL),
('KE', 'Kenia', 'Kenya', NULL, NULL),
('ET', 'Etiopía', 'Ethiopia', NULL, NULL),
('ZA', 'Sudáfrica', 'South Africa', NULL, NULL),
('IN', 'India', 'India', 'la India', 'India'),
('CN', 'China', 'China', NULL, NULL),
('HK', 'Hong Kong', 'Hong Kong', NULL, NULL),
('JP', 'Japón', 'Japan', NULL, NULL),
('KR', 'Corea del Sur', 'South Korea', 'la República de Corea', 'the Republic of Korea'),
('PH', 'Filipinas', 'Philippines', NULL, 'the Philippines'),
('ID', 'Indonesia', 'Indonesia', NULL, NULL),
('MY', 'Malasia', 'Malaysia', NULL, NULL),
('SG', 'Singapur', 'Singapore', NULL, NULL),
('TH', 'Tailandia', 'Thailand', NULL, NULL),
('VN', 'Vietnam', 'Vietnam', NULL, NULL),
('AU', 'Australia', 'Australia', NULL, NULL),
('NZ', 'Nueva Zelandia', 'New Zealand', NULL, NULL)
) AS c (country, name_es, name_en, in_es, in_en) USING (country);

-- ---- seed: which office offers what ----------------------------------------------------------------
-- Every office offers the services to citizens; visas everywhere except at the smaller (non-general)
-- consulates in the United States, Puerto Rico and Canada.

INSERT INTO office_procedures (office_code, procedure_code)
SELECT o.code, p.code
FROM offices o CROSS JOIN procedures p
WHERE p.code <> 'visa' OR o.kind <> 'consulate' OR o.country NOT IN ('US', 'PR', 'CA');

-- ---- seed: hours and holidays ----------------------------------------------------------------------
-- Monday to Friday 08:00-14:00 local time; the largest consulates in the United States also open on
-- Saturday mornings ("sabatinos").

INSERT INTO office_hours (office_code, weekday, opens, closes)
SELECT o.code, d, time '08:00', time '14:00'
FROM offices o CROSS JOIN generate_series(1, 5) AS d;

INSERT INTO office_hours (office_code, weekday, opens, closes)
SELECT code, 6, time '09:00', time '13:00'
FROM offices
WHERE code IN ('LAX', 'CHI', 'NYC', 'HOU', 'DAL', 'SAT', 'PHX', 'SAN', 'SFO', 'SAC', 'DEN', 'ATL', 'SJC', 'SNA',
               'SBD');

-- Mexican official rest days as the Foreign Ministry observes them (the Monday-observed ones on their
-- Monday), plus Holy Thursday and Good Friday; offices in the United States and Canada also close on a
-- few local public holidays.
INSERT INTO office_holidays (office_code, day, name)
SELECT o.code, h.day::date, h.name
FROM offices o
CROSS JOIN (VALUES
    ('2026-01-01', 'Año Nuevo'),
    ('2026-02-02', 'Día de la Constitución'),
    ('2026-03-16', 'Natalicio de Benito Juárez'),
    ('2026-04-02', 'Jueves Santo'),
    ('2026-04-03', 'Viernes Santo'),
    ('2026-05-01', 'Día del Trabajo'),
    ('2026-09-16', 'Día de la Independencia'),
    ('2026-11-16', 'Día de la Revolución'),
    ('2026-12-25', 'Navidad'),
    ('2027-01-01', 'Año Nuevo'),
    ('2027-02-01', 'Día de la Constitución'),
    ('2027-03-15', 'Natalicio de Benito Juárez'),
    ('2027-03-25', 'Jueves Santo'),
    ('2027-03-26', 'Viernes Santo'),
    ('2027-05-01', 'Día del Trabajo'),
    ('2027-09-16', 'Día de la Independencia'),
    ('2027-11-15', 'Día de la Revolución'),
    ('2027-12-25', 'Navidad')
) AS h (day, name);

INSERT INTO office_holidays (office_code, day, name)
SELECT o.code, h.day::date, h.name
FROM offices o
JOIN (VALUES
    ('US', '2026-07-03', 'Independence Day (observado)'),
    ('US', '2026-11-26', 'Thanksgiving Day'),
    ('US', '2027-07-05', 'Independence Day (observado)'),
    ('US', '2027-11-25', 'Thanksgiving Day'),
    ('PR', '2026-07-03', 'Independence Day (observado)'),
    ('PR', '2027-07-05', 'Independence Day (observado)'),
    ('CA', '2026-07-01', 'Canada Day'),
    ('CA', '2027-07-01', 'Canada Day')
) AS h (country, day, name) USING (country);
