"""The engine side: worker processes running stable-diffusion.cpp, and their supervisor."""
