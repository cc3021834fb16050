import sys
from pathlib import Path

# the template is not installed: import it from its folder
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
