"""Audited result bundles: export of a measurement session, its manifest, audit chain and signature."""
