"""DCRF's test package: its test modules (downloaded) next to the support modules it imports."""
