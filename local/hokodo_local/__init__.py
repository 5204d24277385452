"""Running the bundle without Docker: Lambda's event sources emulated over moto server and the Hokodo emulator."""
