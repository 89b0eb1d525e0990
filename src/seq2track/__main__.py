from .cli import main

if __name__ == "__main__":  # a spawned rank (train.strategy: ddp_spawn) imports this module again
    main()
