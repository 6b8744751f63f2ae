"""Test support shared by every suite: real server processes and checks for hidden failures."""
