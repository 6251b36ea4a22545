-- The built-in vina-docking pipeline, visible to every org. Seeded before
-- row-level security is forced on pipelines, since it belongs to no org.
INSERT INTO pipelines (id, org_id, name, engine, version, params_schema, defaults)
VALUES (
    '00000000-0000-7000-8000-000000000001', NULL, 'vina-docking', 'vina', '1.2.3',
    '{
      "$schema": "https://json-schema.org/draft/2020-12/schema",
      "title": "AutoDock Vina docking parameters",
      "type": "object",
      "additionalProperties": false,
      "required": ["center", "size"],
      "properties": {
        "center": {"description": "Search box center, Angstrom", "type": "array", "minItems": 3, "maxItems": 3,
                   "items": {"type": "number", "minimum": -10000, "maximum": 10000}},
        "size": {"description": "Search box edge lengths, Angstrom", "type": "array", "minItems": 3, "maxItems": 3,
                 "items": {"type": "number", "minimum": 1, "maximum": 126}},
        "exhaustiveness": {"type": "integer", "minimum": 1, "maximum": 32, "default": 8},
        "num_modes": {"type": "integer", "minimum": 1, "maximum": 20, "default": 9},
        "energy_range": {"description": "kcal/mol", "type": "number", "minimum": 0.5, "maximum": 10, "default": 3},
        "seed": {"type": "integer"},
        "timeout_seconds": {"type": "integer", "minimum": 10, "maximum": 840, "default": 600}
      }
    }'::jsonb,
    '{"exhaustiveness": 8, "num_modes": 9, "energy_range": 3, "timeout_seconds": 600}'::jsonb
);

ALTER TABLE pipelines FORCE ROW LEVEL SECURITY;
