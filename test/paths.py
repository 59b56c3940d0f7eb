"""Where things are, for tests in any folder of the test tree."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository
TEST_DIR = os.path.join(ROOT, "test")
