"""The lab framework: parameters, devices, seeding, the background runner, registry, export."""
