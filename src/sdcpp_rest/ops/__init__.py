"""Operating the server: estimates' wire schemas, system report, effective configuration, restart."""
