"""Code the tests share, in modules named for what they are.

A test module imports from here and never from another test module (tests/test_import_contract.py
keeps it so): a helper that lives in a test module ties the two modules' changes together.
"""
